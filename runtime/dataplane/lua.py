"""The Lua actions HAProxy runs on a container's answer that Python would turn into a ModelError (424).

`coserve_model_error` (a non-2xx answer) and `coserve_too_large` (a Content-Length over MaxResponse) build the same
JSON document as runtime.router.upstream's model_error and TooLarge: the message in SageMaker's words, the body's
first 2,048 characters as OriginalMessage (invalid UTF-8 bytes each become U+FFFD, as Python's errors="replace"
does for a lone bad byte), the status and the log path. Written next to haproxy.cfg at start (`lua-load`).
"""

SOURCE = r"""
local ERROR_TYPE = "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"
-- What HAProxy's own counters cannot tell the metrics fold, per container (`coserve counts` on the runtime API):
-- answers over MaxResponse by the status class HAProxy counted them under (1-3xx, 4xx), which Python counts as 5XX
-- errors; and requests refused at MaxInFlight, which Python counts under the variant.
local too_large, busy = {}, {}

core.register_cli({"coserve", "counts"}, "the data plane's counts per container", function(applet)
  for host, n in pairs(too_large) do applet:send("too-large " .. host .. " " .. n[1] .. " " .. n[2] .. "\n") end
  for host, n in pairs(busy) do applet:send("busy " .. host .. " " .. n .. "\n") end
end)

core.register_action("coserve_busy", {"http-req"}, function(txn, host)
  busy[host] = (busy[host] or 0) + 1
end, 1)

-- Valid UTF-8 kept, each invalid byte replaced by U+FFFD, at most `limit` characters.
local function text(raw, limit)
  local out, count, i, n = {}, 0, 1, #raw
  while i <= n and count < limit do
    local c, len = raw:byte(i), 0
    if c < 0x80 then len = 1 elseif c >= 0xC2 and c < 0xE0 then len = 2
    elseif c >= 0xE0 and c < 0xF0 then len = 3 elseif c >= 0xF0 and c < 0xF5 then len = 4 end
    local piece = len > 0 and raw:sub(i, i + len - 1) or nil
    if piece and #piece == len and utf8.len(piece) == 1 then
      out[#out + 1] = piece; i = i + len
    else
      out[#out + 1] = "\239\191\189"; i = i + 1
    end
    count = count + 1
  end
  return table.concat(out)
end

local function json(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    if ch == '"' then return '\\"' elseif ch == "\\" then return "\\\\" end
    return string.format("\\u%04x", ch:byte())
  end) .. '"'
end

local function reply(txn, doc)
  local r = txn:reply()
  r:set_status(424, "Failed Dependency")
  r:add_header("content-type", "application/json")
  r:add_header("x-amzn-errortype", ERROR_TYPE)
  r:set_body(doc)
  txn:done(r)
end

core.register_action("coserve_model_error", {"http-res"}, function(txn, host, log)
  local status = tonumber(txn.sf:status())
  local kind = (status >= 400 and status < 500) and "client" or "server"
  local message = text(txn.sf:res_body() or "", 2048)
  reply(txn, '{"__type": "ModelError", "message": ' ..
    json(string.format('Received %s error (%d) from %s with message "%s". See %s for more information.',
      kind, status, host, message, log)) ..
    ', "ErrorCode": ' .. json(kind:upper() .. "_ERROR_FROM_MODEL") .. ', "OriginalStatusCode": ' .. status ..
    ', "OriginalMessage": ' .. json(message) .. ', "LogStreamArn": ' .. json(log) .. '}')
end, 2)

core.register_action("coserve_too_large", {"http-res"}, function(txn, host, log, limit)
  local status = tonumber(txn.sf:status())
  local size = txn.sf:res_hdr_val("content-length")
  local n = too_large[host] or {0, 0}
  if status >= 400 and status < 500 then n[2] = n[2] + 1 elseif status < 400 then n[1] = n[1] + 1 end
  too_large[host] = n
  local original = string.format("answer of at least %s bytes, over the limit of %s bytes", size, limit)
  reply(txn, '{"__type": "ModelError", "message": ' ..
    json(string.format("Received response from %s with status code %d. However, the response body is %s bytes " ..
      "or more, which has exceeded the maximum limit of %s bytes (Coserve.Server.MaxResponse). " ..
      "See %s for more information.", host, status, size, limit, log)) ..
    ', "OriginalStatusCode": ' .. status .. ', "OriginalMessage": ' .. json(original) ..
    ', "LogStreamArn": ' .. json(log) .. '}')
end, 3)
"""
