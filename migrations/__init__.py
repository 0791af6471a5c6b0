"""Alembic migrations, shipped inside the distribution so `civicpay db upgrade` finds them."""
