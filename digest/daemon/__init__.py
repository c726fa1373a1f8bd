"""The scheduler daemon's parts: the schedules, the pure rules of when a job is due, the jobs
themselves and the runner that records and logs them; scheduler.py wires them."""
