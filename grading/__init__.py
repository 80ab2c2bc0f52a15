"""The GPT-2 classroom autograder: grade a student's 12 step files against
Hugging Face's GPT-2, with every step sandboxed and graded on its own.

Start at ``grading.cli`` (the commands) and ``grading.config`` (the steps,
points and limits). docs/architecture.md gives the map.
"""
