"""The durable interpreter: one workflow that runs any compiled plan."""
