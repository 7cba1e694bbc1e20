"""`tensorflow_model_server` as this process's child, configured as SageMaker's serve.py configures it."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from servers.tfs.discovery import ModelSource
from servers.tfs.settings import Settings

log = logging.getLogger("servers.tfs.launcher")


def model_config(models: list[ModelSource]) -> str:
    """The model_config_list text proto: every version of every model (a `specific` version policy)."""
    entries = []
    for m in models:
        versions = "".join(f"        versions: {v}\n" for v, _ in m.versions)
        entries.append(
            "  config: {\n"
            f'    name: "{m.name}"\n'
            f'    base_path: "{m.base_path}"\n'
            '    model_platform: "tensorflow"\n'
            "    model_version_policy: {\n      specific: {\n" + versions + "      }\n    }\n"
            "  }\n"
        )
    return "model_config_list: {\n" + "".join(entries) + "}\n"


def tfs_argv(binary: str, settings: Settings, config_file: Path) -> list[str]:
    return [
        binary,
        f"--port={settings.grpc_port}",
        f"--rest_api_port={settings.rest_port}",
        f"--model_config_file={config_file}",
        "--max_num_load_retries=0",  # a model that cannot load fails the start, as in SageMaker
        f"--tensorflow_intra_op_parallelism={settings.intra_op}",
        f"--tensorflow_inter_op_parallelism={settings.inter_op}",
    ]


class TfsProcess:
    def __init__(self, binary: str, settings: Settings, models: list[ModelSource]) -> None:
        self.binary = binary
        self.settings = settings
        self.models = models
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Stays in our process group and cgroup, so the supervisor's stop reaches it too."""
        config = self.settings.work_dir / "tfs-model-config.cfg"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(model_config(self.models))
        argv = tfs_argv(self.binary, self.settings, config)
        log.info("starting %s", " ".join(argv))
        self.proc = subprocess.Popen(argv)

    def wait(self) -> int:
        assert self.proc is not None
        return self.proc.wait()

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            log.warning("tensorflow_model_server pid=%s outlived SIGTERM by %gs; killing it", self.proc.pid, grace_s)
            self.proc.kill()
            self.proc.wait()
