"""Contact book data (classes, enrolments, grades, …) arrives with the contact book issue."""
