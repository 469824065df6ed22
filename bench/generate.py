#!/usr/bin/env python3
"""Generates tenancy and Terraform configurations of N tenants for benchmarks.

Each tenant lowers to four tenancy resources on the embedded provider: a
catalog entry, a subscription, a SQLite database and a monitoring entry. The
Terraform twin has four `terraform_data` resources per tenant, chained by
references in the same shape: subscription, database and monitoring each
depend on the tenant.
"""

import argparse
import pathlib

TIERS = """tier "free" {
  price    = 0
  currency = "EUR"

  limits {
    storage_gb  = 1
    connections = 5
  }
}

tier "pro" {
  price      = 49
  currency   = "EUR"
  trial_days = 14

  limits {
    storage_gb  = 50
    connections = 20
  }
}

tier "enterprise" {
  price         = 1990
  currency      = "EUR"
  billing_cycle = "yearly"

  limits {
    storage_gb  = 1000
    connections = 200
  }
}

security_policy "standard" {
  encryption_at_rest = true
}

security_policy "strict" {
  encryption_at_rest = true
  audit_logging      = true
  compliance         = ["gdpr"]
}
"""

TIER_NAMES = ["free", "pro", "enterprise"]
REGIONS = ["eu-central-1", "eu-west-1", "us-east-1", "us-west-2"]


def explicit_tenant(index):
    tier = TIER_NAMES[index % 3]
    policy = "strict" if index % 2 else "standard"
    region = REGIONS[index % 4]
    return f"""tenant "t{index:06d}" {{
  name            = "Tenant {index}"
  tier            = tier.{tier}
  region          = "{region}"
  security_policy = security_policy.{policy}

  database "sqlite" {{}}

  monitoring {{
    alert_email = "ops+{index}@example.com"
  }}
}}
"""


def for_each_tenants(start, count):
    keys = ", ".join(f'"k{index:06d}"' for index in range(start, start + count))
    return f"""tenant "fleet" {{
  for_each = toset([{keys}])

  name            = "Fleet tenant ${{each.key}}"
  tier            = tier.pro
  region          = "eu-central-1"
  security_policy = security_policy.standard

  database "sqlite" {{}}

  monitoring {{
    alert_email = "fleet@example.com"
  }}
}}
"""


def write_tenancy(directory, tenants, explicit_share):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "platform.hcl").write_text(TIERS)
    explicit = int(tenants * explicit_share)
    chunk = 5000
    for start in range(0, explicit, chunk):
        blocks = [explicit_tenant(index) for index in range(start, min(start + chunk, explicit))]
        (directory / f"tenants_{start:06d}.hcl").write_text("\n".join(blocks))
    remaining = tenants - explicit
    if remaining:
        (directory / "fleet.hcl").write_text(for_each_tenants(explicit, remaining))


def write_terraform(directory, tenants):
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(tenants):
        name = f"t{index:06d}"
        tier = TIER_NAMES[index % 3]
        lines.append(
            f"""resource "terraform_data" "{name}" {{
  input = {{ id = "{name}", tier = "{tier}", region = "{REGIONS[index % 4]}" }}
}}

resource "terraform_data" "{name}_subscription" {{
  input = {{ tenant = terraform_data.{name}.output.id, tier = "{tier}" }}
}}

resource "terraform_data" "{name}_database" {{
  input = {{ tenant = terraform_data.{name}.output.id, path = "{name}.db" }}
}}

resource "terraform_data" "{name}_monitoring" {{
  input = {{ tenant = terraform_data.{name}.output.id, alert_email = "{name}@example.com" }}
}}
"""
        )
    (directory / "main.tf").write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("resources", type=int, help="number of resources (four per tenant)")
    parser.add_argument("directory", type=pathlib.Path, help="output directory")
    parser.add_argument("--terraform", action="store_true", help="write the Terraform twin instead")
    parser.add_argument(
        "--explicit-share",
        type=float,
        default=0.5,
        help="share of tenants written as explicit blocks; the rest use one for_each (default 0.5)",
    )
    args = parser.parse_args()
    tenants = max(1, args.resources // 4)
    if args.terraform:
        write_terraform(args.directory, tenants)
    else:
        write_tenancy(args.directory, tenants, args.explicit_share)


if __name__ == "__main__":
    main()
