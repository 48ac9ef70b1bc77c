-- The courses that name a course as a prerequisite, found when that course is completed
-- (``doc->'prerequisites' ?| array[...]``) without reading every catalog.
CREATE INDEX courses_prerequisites ON courses USING gin ((doc->'prerequisites'));
