"""A plan as rich tables (placements, then what stays where it is), and a saving line per price column."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from runtime.cli.plan.model import Plan
from runtime.units import format_size


def render(plan: Plan) -> Group:
    parts: list[Table | Text] = [_placements(plan)]
    if plan.excluded:
        parts.append(_excluded(plan))
    parts.append(Text(_totals(plan)))
    return Group(*parts)


def _placements(plan: Plan) -> Table:
    table = Table(title=f"Packing plan ({plan.headroom:.0%} headroom kept at peak)", title_justify="left")
    for name in ("INSTANCE", "EC2", "MODELS", "MEMORY", "CPU", "SAGEMAKER $/MO", "EC2 $/MO"):
        table.add_column(name, justify="right" if "$" in name else "left", overflow="fold")
    for p in plan.placements:
        memory = (
            f"{format_size(p.memory_bytes)} / {format_size(p.memory_capacity_bytes)} ({p.memory_headroom:.0%} free)"
        )
        cpu = f"{p.cpus:.2f} / {p.vcpu} ({p.cpu_headroom:.0%} free)"
        table.add_row(p.instance, p.ec2, ", ".join(p.models), memory, cpu,
                      f"{p.sagemaker_usd_month:,.2f}", f"{p.ec2_usd_month:,.2f}")  # fmt: skip
    return table


def _excluded(plan: Plan) -> Table:
    table = Table(title="Not co-located (left on their own endpoints)", title_justify="left")
    table.add_column("MODEL")
    table.add_column("WHY", overflow="fold")
    for e in plan.excluded:
        table.add_row(e.name, e.reason)
    return table


def _saving(before: float, after: float) -> str:
    if before <= 0:
        return "-"
    return f"{(before - after) / before:.0%}"


def _totals(plan: Plan) -> str:
    sm_before, sm_after = plan.before_sagemaker_usd_month, plan.after_sagemaker_usd_month
    lines = [
        f"SageMaker: ${sm_before:,.2f}/month one endpoint per model -> ${sm_after:,.2f} "
        f"(saving {_saving(sm_before, sm_after)})",
        f"EC2:       ${plan.before_ec2_usd_month:,.2f}/month -> ${plan.after_ec2_usd_month:,.2f} "
        f"(saving {_saving(plan.before_ec2_usd_month, plan.after_ec2_usd_month)})",
    ]
    if plan.unpriced:
        lines.append(
            "Not in either total (no instance type in the price table holds them, or theirs is not in it): "
            + ", ".join(plan.unpriced)
        )
    lines.append(f"Prices: {plan.source}")
    return "\n".join(lines)
