variable "customer" {
  type      = string
  default   = "Globex"
  sensitive = true
}

tier "basic" {
  price    = 0
  currency = "EUR"
}

tenant "globex" {
  id     = lower(var.customer)
  name   = "Globex"
  tier   = tier.basic
  region = "local"
}
