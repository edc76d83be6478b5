"""Moving image bytes between Glance and an attached volume."""
