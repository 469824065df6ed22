output "acme_postgres_url" {
  description = "Connection URL of Acme's own database, with its role and password."
  value       = tenant.acme.database.postgres.url
  sensitive   = true
}

output "acme_redis_url" {
  description = "Connection URL of Acme's Redis ACL user."
  value       = tenant.acme.database.redis.url
  sensitive   = true
}

output "initech_postgres_url" {
  description = "Connection URL of Initech's schema in the shared database."
  value       = tenant.initech.database.postgres.url
  sensitive   = true
}

output "startup_roles" {
  description = "PostgreSQL role of each startup, by key."
  value       = { for key, startup in tenant.startups : key => startup.database.postgres.role }
}

output "connection_limits" {
  description = "The connection limit that each enterprise tenant's tier sets on its role."
  value = {
    acme     = tenant.acme.database.postgres.connection_limit
    globex   = tenant.globex.database.postgres.connection_limit
    umbrella = tenant.umbrella.database.postgres.connection_limit
  }
}

output "redis_key_patterns" {
  description = "The key pattern that confines each Redis user."
  value = {
    acme    = tenant.acme.database.redis.key_pattern
    globex  = tenant.globex.database.redis.key_pattern
    initech = tenant.initech.database.redis.key_pattern
    hooli   = tenant.hooli.database.redis.key_pattern
  }
}
