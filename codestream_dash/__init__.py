"""Code Stream dashboards (Panel): the teacher's and the student's."""
