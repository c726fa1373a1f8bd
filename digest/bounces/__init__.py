"""The bounce stage: classify returned mail (DSN, ARF, the formats real MTAs send), ingest it
from every channel (IMAP, Maildir, mbox, standard input, relays' webhooks), and apply the
bounce policy to subscribers through the one status-transition function."""
