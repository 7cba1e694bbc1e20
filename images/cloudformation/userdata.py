"""The launch template's user data in coserve-asg.yaml is images/user-data.sh with its settings as parameters.

    python images/cloudformation/userdata.py           # print the block as the template holds it
    python images/cloudformation/userdata.py --write   # put images/user-data.sh's current text in the template

CloudFormation cannot read a file beside the template, so the script is copied in; this keeps the copy
honest (tests/images/scaleout/test_validators.py fails when it differs). Each setting's first assignment becomes a
stack parameter through Fn::Sub; the script has no other `${...}` for Fn::Sub to take.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parent / "user-data.sh"
TEMPLATE = HERE / "coserve-asg.yaml"
SETTINGS = {  # user-data.sh's setting -> the stack parameter that fills it
    "COSERVE_GIT": "CoserveGitUrl",
    "COSERVE_REF": "CoserveRef",
    "COSERVE_DEPLOYMENT": "DeploymentUrl",
    "COSERVE_EXTRAS": "CoserveExtras",
    "COSERVE_HOST": "CoserveHost",
    "TORCH_INDEX_URL": "TorchIndexUrl",
}
OPENER = "Fn::Base64: !Sub |"


def user_data(script: str) -> str:
    if "${" in script:
        raise SystemExit(f"{SCRIPT}: has '${{…}}', which Fn::Sub would take: write it as ${{!…}} in the copy")
    lines = script.splitlines()
    for name, param in SETTINGS.items():
        at = next((i for i, line in enumerate(lines) if line.startswith(f"{name}=")), None)
        if at is None:
            raise SystemExit(f"{SCRIPT}: no {name}= line to turn into the {param} parameter")
        lines[at] = f"{name}=${{{param}}}"
    return "\n".join(lines) + "\n"


def block_span(template: list[str]) -> tuple[int, int, str]:
    """Where the user-data block is: first line, end (exclusive), and its indentation."""
    opener = next(i for i, line in enumerate(template) if line.strip() == OPENER)
    indent = " " * (len(template[opener]) - len(template[opener].lstrip()) + 2)
    end = opener + 1
    while end < len(template) and (template[end].startswith(indent) or not template[end].strip()):
        end += 1
    while not template[end - 1].strip():  # trailing blank lines belong to what follows
        end -= 1
    return opener + 1, end, indent


def in_template() -> str:
    lines = TEMPLATE.read_text().splitlines()
    start, end, indent = block_span(lines)
    return "\n".join(line[len(indent) :] for line in lines[start:end]) + "\n"


def write() -> None:
    lines = TEMPLATE.read_text().splitlines()
    start, end, indent = block_span(lines)
    body = [f"{indent}{line}" if line else "" for line in user_data(SCRIPT.read_text()).splitlines()]
    TEMPLATE.write_text("\n".join([*lines[:start], *body, *lines[end:]]) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        sys.stdout.write(user_data(SCRIPT.read_text()))
    sys.exit(0)
