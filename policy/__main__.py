"""The AMS policy pack: `pulumi preview --policy-pack policy`.

Building PolicyPack starts the analyzer's gRPC server and never returns, so nothing imports this
file: the tests import `ams_policies` and call each policy's `validate` directly. Pulumi runs this
file with `policy/` on sys.path, hence the top-level import.
"""

from ams_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="ams-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
