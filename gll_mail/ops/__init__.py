"""Running gll-mail for real: the readiness check (`gll-mail doctor`), backups, metrics, structured
logs and the workers' heartbeats. Above delivery and bounces, below the shells (web, cli)."""
