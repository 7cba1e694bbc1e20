"""SageMaker's control plane on a host of your own: models, endpoint configs and endpoints as desired state.

`wire` speaks JSON 1.1 (validated against botocore's own service model), `store` keeps the state in SQLite,
`ops` changes desired state only, `desired` turns an endpoint into the runtime's `Deployment`, and `api` is
the ASGI entry for `POST /` with `X-Amz-Target` (`authz` its SigV4 guard). `apply` writes a deployment file
as desired state; `tags` reads `coserve:` tags as a Coserve section. A reconciler (elsewhere) moves
endpoints between states through the store's small interface: `pending()`, `mark_in_service()`,
`mark_failed()`, `mark_update_failed()`, `forget()`.
"""
