tenant "north" {
  name   = "North ${local.suffix}"
  tier   = tier.team
  region = "ca-central-1"
}
