#!/usr/bin/env bash
# EC2 user-data: coserve as a systemd service on a Debian 12 or Ubuntu 24.04 AMI, serving a deployment
# file kept in S3. Edit the four settings below, then pass this file as the instance's user data:
#   aws ec2 run-instances --image-id ami-… --instance-type m7i.xlarge --iam-instance-profile Name=coserve \
#     --user-data file://images/user-data.sh …
# The instance profile's role needs s3:GetObject on the deployment file and on every ModelDataUrl.
# The front door listens on 127.0.0.1 unless the deployment has Coserve.Auth (then COSERVE_HOST=0.0.0.0
# and a security group that admits port 8080 from the clients only).
set -euo pipefail
exec > >(tee -a /var/log/coserve-user-data.log) 2>&1

COSERVE_GIT=https://github.com/YOUR-ORG/coserve.git       # where coserve's source is
COSERVE_REF=main                                          # a tag or commit, for repeatable instances
COSERVE_DEPLOYMENT=s3://YOUR-BUCKET/endpoints/prod.yaml   # or a path written below /etc/coserve
COSERVE_EXTRAS=torchserve,tensorflow                      # the framework servers this endpoint uses
COSERVE_HOST=127.0.0.1
TORCH_INDEX_URL=                                          # PyTorch's CPU wheel index (empty: pip's own index)

export DEBIAN_FRONTEND=noninteractive
missing=$(for pkg in git ca-certificates curl; do dpkg -s "$pkg" >/dev/null 2>&1 || echo "$pkg"; done)
if [ -n "$missing" ]; then  # apt only when something is missing: the same script runs on an offline host
  apt-get update -qq
  # shellcheck disable=SC2086 # package names, one a line: split on purpose (no dollar-brace: Fn::Sub)
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The instance's region, from the instance metadata service (IMDSv2), for boto3; none off EC2.
token=$(curl -sf --max-time 5 -X PUT http://169.254.169.254/latest/api/token \
  -H "X-aws-ec2-metadata-token-ttl-seconds: 300" || true)
region=""
if [ -n "$token" ]; then
  region=$(curl -sf --max-time 5 -H "X-aws-ec2-metadata-token: $token" \
    http://169.254.169.254/latest/meta-data/placement/region || true)
fi

rm -rf /opt/coserve-src
git clone --quiet "$COSERVE_GIT" /opt/coserve-src
git -C /opt/coserve-src checkout --quiet "$COSERVE_REF"

# Name PyTorch's CPU wheel index above: the default torch build is the CUDA one, several GB and of no use
# without a GPU.
TORCH_INDEX_URL="$TORCH_INDEX_URL" \
  bash /opt/coserve-src/images/install.sh --extras "$COSERVE_EXTRAS" --venv /opt/coserve --no-editable

install -d -m 755 /etc/coserve
{  # no dollar-brace expansions here: the CloudFormation template's copy goes through Fn::Sub
  echo "COSERVE_DEPLOYMENT=$COSERVE_DEPLOYMENT"
  echo "COSERVE_ARGS=--host $COSERVE_HOST --port 8080"
  if [ -n "$region" ]; then echo "AWS_DEFAULT_REGION=$region"; fi
} >/etc/coserve/coserve.env
install -m 644 /opt/coserve-src/images/coserve.service /etc/systemd/system/coserve.service
systemctl daemon-reload
systemctl enable --now coserve
echo "coserve: started; journalctl -u coserve -f, and: /opt/coserve/bin/coserve status"
