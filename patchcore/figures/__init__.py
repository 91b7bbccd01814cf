"""Figure builders: functions that return matplotlib Figures (saving is the caller's job)."""
