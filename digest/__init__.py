"""digest: feeds to a weekly email newsletter."""
