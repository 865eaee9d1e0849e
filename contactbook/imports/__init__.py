"""Excel imports of the contact book: classes.xlsx (classes, class_sheet) and the grade sheets
teachers export and upload again (grade_sheet). Cell checks and problem codes: cells."""
