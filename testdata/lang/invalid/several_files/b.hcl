tenant "acme" {
  name   = "Acme"
  tier   = tier.pro
  region = "eu-west-1"
  status = "paused"
}
