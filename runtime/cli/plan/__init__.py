"""`coserve plan`: the consolidation advisor.

Reads measured peaks (a running coserve's /metrics, or a file that lists SageMaker endpoints), packs the
models onto instance types from the price table (first-fit decreasing on memory, CPU as the second
dimension), and says what it would not co-locate and why; `emit` writes each instance's requests and limits as the
`Coserve` section of a deployment file. Pure except `scrape`, `catalog.load` and `emit.write`.
"""

from runtime.cli.plan.catalog import Catalog, Instance, load_catalog
from runtime.cli.plan.model import Excluded, Placement, Plan, Workload
from runtime.cli.plan.pack import Policy, make_plan

__all__ = ["Catalog", "Excluded", "Instance", "Placement", "Plan", "Policy", "Workload", "load_catalog", "make_plan"]
