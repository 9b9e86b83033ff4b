FROM busybox
RUN echo "tool built" > /tool.txt
