"""nbgrader's settings for the book's coursework (read by every `nbgrader` command run here).

The course lives in `_build/course/` (ignored by git): `source/<chapter>/` is the
instructor's notebook as in `book/`, `release/<chapter>/` the student edition that
`make student` copies to `_build/student/`, `submitted/<student>/<chapter>/` the
notebooks handed in, `autograded/` the graded copies, `gradebook.db` the scores.
"""

import os

c = get_config()  # noqa: F821 (nbgrader's config loader provides it, and __file__)

c.CourseDirectory.course_id = "freqlens"
c.CourseDirectory.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_build", "course")

# An answer cell keeps its `answer = None` line above the solution region, so the student
# edition runs top to bottom and the test cell's self-check says "not answered yet"
# instead of the stub raising NotImplementedError.
c.ClearSolutions.code_stub = {"python": "# your code here"}
c.ClearSolutions.text_stub = "Your answer here."

# Autograding runs a whole chapter; chapter 3's first run trains its networks (minutes on a CPU).
c.Execute.timeout = 1800
