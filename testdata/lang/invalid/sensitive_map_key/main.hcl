variable "secret" {
  type      = string
  default   = "hunter2XYZ"
  sensitive = true
}

tier "pro" {
  price        = 10
  currency     = "EUR"
  usage_prices = { (var.secret) = 1 }
}

tenant "acme" {
  name   = "Acme"
  tier   = tier.pro
  region = "local"
  labels = { (var.secret) = "a" }
}
