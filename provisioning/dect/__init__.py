"""DECT bases, their handsets, and phone-to-user assignment (000/001 routes)."""
