tenant "acme" {
  name            = "Acme Corporation"
  tier            = tier.pro
  region          = var.default_region
  security_policy = security_policy.eu_strict
  contact_email   = "ops@acme.example"
  labels          = merge(local.common_labels, { segment = "mid_market" })

  database "sqlite" {
    journal_mode = "wal"
  }

  monitoring {
    alert_email = "alerts@acme.example"
  }
}

tenant "globex" {
  name            = "Globex"
  tier            = tier.enterprise
  region          = "eu-west-1"
  security_policy = security_policy.eu_strict
  labels          = local.common_labels

  database "sqlite" {}

  monitoring {
    alert_email            = var.support_email
    metrics_retention_days = 90
  }
}

tenant "initech" {
  name            = "Initech"
  tier            = tier.free
  region          = "us-east-1"
  security_policy = security_policy.standard
  labels          = local.common_labels

  database "sqlite" {}
}

# One tenant per studio location, each with its own database.
tenant "studios" {
  for_each = {
    berlin = "eu-central-1"
    lisbon = "eu-west-1"
    austin = "us-east-1"
  }

  name            = "Hooli Studios ${title(each.key)}"
  tier            = tier.pro
  region          = each.value
  security_policy = security_policy.standard
  labels          = merge(local.common_labels, { studio = each.key })

  database "sqlite" {}
}
