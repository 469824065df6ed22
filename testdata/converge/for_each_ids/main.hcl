variable "regions" {
  type = map(string)
  default = {
    north = "eu-north-1"
    south = "eu-south-1"
  }
}

tier "team" {
  price         = 19.5
  currency      = "GBP"
  billing_cycle = "quarterly"
  trial_days    = 7

  limits {
    storage_gb = 5
  }
}

security_policy "baseline" {
  retention_days = 30
}

tenant "branch" {
  for_each = var.regions

  id              = "branch_${each.key}"
  name            = "Branch ${upper(each.key)}"
  tier            = tier.team
  region          = each.value
  security_policy = security_policy.baseline
  labels          = { region = each.value }

  database "sqlite" {
    journal_mode = "delete"
  }

  monitoring {
    enabled = false
  }
}
