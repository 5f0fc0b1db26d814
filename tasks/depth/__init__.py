"""Per-photo depth for planning and validation: MiDaS, or an honest layout-prior fallback."""
