"""Authentication (AWS SigV4, as boto3 signs) and IAM-style authorization for the front door."""

from runtime.auth.authenticator import Authenticator
from runtime.auth.evaluate import Decision, evaluate
from runtime.auth.policy import Policy, PolicyError, Statement, parse_policy
from runtime.auth.principals import Principal, load_principals

__all__ = [
    "Authenticator",
    "Decision",
    "Policy",
    "PolicyError",
    "Principal",
    "Statement",
    "evaluate",
    "load_principals",
    "parse_policy",
]
