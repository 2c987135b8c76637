"""The reference system that distlab ships and tests: Raft KV nodes, a PostgreSQL
work queue and small infrastructure pieces. It never imports distlab."""
