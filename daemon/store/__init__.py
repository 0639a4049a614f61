"""The local store: Peewee models, connection and migrations."""
