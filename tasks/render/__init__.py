"""Phase 2: render one motion clip per planned shot, validate it, downgrade when unsafe."""
