"""ARNs as SageMaker builds them: the resource name in lower case, under a configurable region and account."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"  # runtime.auth's default too, so policies and ARNs agree


@dataclass(frozen=True)
class Arns:
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT

    def of(self, kind: str, name: str) -> str:
        """kind: model | endpoint-config | endpoint."""
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    def model(self, name: str) -> str:
        return self.of("model", name)

    def config(self, name: str) -> str:
        return self.of("endpoint-config", name)

    def endpoint(self, name: str) -> str:
        return self.of("endpoint", name)
