"""Environment implementations; each module holds one family and its native vector version."""
