"""Events by mail (issue 25): a post with an iCalendar invitation becomes an event on its topic,
each member's copy is an iMIP invitation to them (RFC 6047), and answers come back as calendar
REPLY mail or a one-word reply. `ical` reads and writes calendars (pure), `record` keeps events
and answers, `invite` builds members' copies, `reminders` is the scheduler's job."""
