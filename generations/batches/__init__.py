"""Batches: many submissions at once, from a CSV file or a prompt matrix.

`planning` turns the input into rows (what will be created), refused rows (with why) and
problems (the input as a whole is unusable); `services` keeps a plan as a draft Batch and
queues it — every row a Submission with its generations, the whole batch reserved
against the budget in one transaction, or nothing; `selectors` read batches, their
progress and their generations.
"""
