tier "free" {
  price    = 0
  currency = "USD"
}

tenant "solo" {
  name   = "Solo"
  tier   = tier.free
  region = "local"
}
