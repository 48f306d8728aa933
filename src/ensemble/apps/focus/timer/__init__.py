"""A room's timer, kept by the server: the commands, the phases that end on time (by a job
at each phase end and a sweep), and the focus sessions each work phase credits."""
