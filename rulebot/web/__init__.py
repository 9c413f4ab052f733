"""`rulebot web`: a page for running bots (status, guards, decisions and why, control)."""
