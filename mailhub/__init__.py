"""mailhub: email-first discussion groups for mentoring programmes (see README.md and docs/)."""
