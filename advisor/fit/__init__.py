"""`fit`: one model on one machine, from names and flags to a typed ``Plan`` (Django-free)."""
