"""SMTP: the client for one-off sends, the campaign connection pool and its PIPELINING wire, DKIM, the local sink."""
