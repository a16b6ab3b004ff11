"""The shape every projection shares, its tables and SQL, and the storage of views."""
