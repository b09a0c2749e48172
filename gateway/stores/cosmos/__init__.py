"""Azure Cosmos DB stores: records (``records.py``) and sessions (``sessions.py``) on one account."""
