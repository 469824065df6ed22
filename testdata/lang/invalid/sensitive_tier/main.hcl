variable "secret" {
  type      = string
  default   = "hunter2XYZ"
  sensitive = true
}

tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "acme" {
  name            = "Acme"
  tier            = var.secret
  region          = "local"
  security_policy = var.secret
}
