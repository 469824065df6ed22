# Enterprise customers: a database of their own.

tenant "acme" {
  name            = "Acme Corporation"
  tier            = tier.enterprise
  region          = "eu-central-1"
  security_policy = security_policy.strict
  contact_email   = "platform@acme.example"
  labels          = merge(local.common_labels, { segment = "enterprise" })

  database "postgres" {
    isolation = "database"
  }

  database "redis" {}

  monitoring {
    alert_email            = "oncall@acme.example"
    metrics_retention_days = 90
  }
}

tenant "globex" {
  name            = "Globex"
  tier            = tier.enterprise
  region          = "eu-west-1"
  security_policy = security_policy.strict
  labels          = merge(local.common_labels, { segment = "enterprise" })

  database "postgres" {
    isolation = "database"
  }

  database "redis" {
    key_prefix = "globex"
  }
}

tenant "umbrella" {
  name            = "Umbrella Health"
  tier            = tier.enterprise
  region          = "us-east-1"
  security_policy = security_policy.standard
  labels          = merge(local.common_labels, { segment = "enterprise", industry = "health" })

  database "postgres" {
    isolation = "database"
  }
}

# Pro customers: a schema each in the shared database.

tenant "initech" {
  name            = "Initech"
  tier            = tier.pro
  region          = "us-east-1"
  security_policy = security_policy.standard
  labels          = merge(local.common_labels, { segment = "mid_market" })

  database "postgres" {
    isolation = "schema"
    database  = var.shared_database
  }

  database "redis" {}
}

tenant "hooli" {
  name            = "Hooli"
  tier            = tier.pro
  region          = "us-west-2"
  security_policy = security_policy.standard
  labels          = merge(local.common_labels, { segment = "mid_market" })

  database "postgres" {
    isolation = "schema"
    database  = var.shared_database
  }

  database "redis" {}
}

tenant "stark" {
  name            = "Stark Logistics"
  tier            = tier.pro
  region          = "eu-central-1"
  security_policy = security_policy.strict
  labels          = merge(local.common_labels, { segment = "mid_market" })

  database "postgres" {
    isolation = "schema"
    database  = var.shared_database
  }
}

tenant "wayne" {
  name            = "Wayne Analytics"
  tier            = tier.pro
  region          = "us-east-1"
  security_policy = security_policy.standard
  status          = "suspended"
  labels          = merge(local.common_labels, { segment = "mid_market" })

  database "postgres" {
    isolation = "schema"
    database  = var.shared_database
  }
}

# Free startups: rows in shared tables, separated by row-level security.
# Each key becomes a tenant with the id `startups_KEY`.

tenant "startups" {
  for_each = {
    bluth      = "us-west-2"
    dunder     = "us-east-1"
    pied_piper = "us-west-2"
    vandelay   = "eu-west-1"
    kramerica  = "eu-central-1"
  }

  name            = "${title(replace(each.key, "_", " "))} (startup)"
  tier            = tier.free
  region          = each.value
  security_policy = security_policy.standard
  labels          = merge(local.common_labels, { segment = "startup" })

  database "postgres" {
    isolation = "row"
    database  = var.shared_database
  }
}
