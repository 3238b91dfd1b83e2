# Lateness p50/p99 against K for both stacks; called by bench/run with dat= and out= set.
set terminal pngcairo size 900,560 font ",11"
set output out
set title "Lateness of arrivals at the sink after the nominal fire time"
set xlabel "K (jobs firing every second)"
set ylabel "lateness (ms, log scale)"
set logscale xy
set grid
set key top left
set datafile missing "-"
set xrange [5:*]
plot dat using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "jobsched p50", \
     dat using 1:3 with linespoints lw 2 pt 5 lc rgb "#1f77b4" dt 2 title "jobsched p99", \
     dat using 1:4 with linespoints lw 2 pt 7 lc rgb "#d62728" title "pg\\_cron+pg\\_net p50", \
     dat using 1:5 with linespoints lw 2 pt 5 lc rgb "#d62728" dt 2 title "pg\\_cron+pg\\_net p99"
