package main

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var engineColors = map[string]color.RGBA{
	"berth":  {0x1f, 0x77, 0xb4, 0xff},
	"docker": {0xd6, 0x27, 0x28, 0xff},
	"podman": {0x94, 0x67, 0xbd, 0xff},
	"ctr":    {0x2c, 0xa0, 0x2c, 0xff},
}

// boxPlot writes a horizontal box plot of r's series to path: one row per
// engine, the box from the first to the third quartile, the median as a
// thick line, whiskers to min and max, every sample as a dot.
func boxPlot(r *ScenarioResult, path string) error {
	var series []*Series
	for _, s := range r.Series {
		if len(s.Samples) > 0 {
			series = append(series, s)
		}
	}
	if len(series) == 0 {
		return fmt.Errorf("no samples")
	}
	const w, right, top, rowH, bottom = 760, 30, 30, 40, 40
	left := 70
	for _, s := range series {
		if l := 16 + 7*len(s.Engine); l > left {
			left = l
		}
	}
	h := top + rowH*len(series) + bottom
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	maxV := 0.0
	for _, s := range series {
		for _, v := range s.Samples {
			maxV = math.Max(maxV, v)
		}
	}
	step := niceStep(maxV / 6)
	axisMax := math.Ceil(maxV*1.02/step) * step
	if axisMax == 0 {
		axisMax = 1
	}
	x := func(v float64) int { return left + int(v/axisMax*float64(w-left-right)) }
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	black := color.RGBA{0, 0, 0, 0xff}
	plotBottom := top + rowH*len(series)
	for v := 0.0; v <= axisMax+step/2; v += step {
		xx := x(v)
		vline(img, xx, top, plotBottom, grey)
		label := fmt.Sprintf("%g", v)
		text(img, xx-len(label)*7/2, plotBottom+16, label, black)
	}
	hline(img, left, w-right, plotBottom, black)
	text(img, left, h-8, r.Unit+" (box: quartiles, thick line: median, whiskers: min-max, dots: samples)", black)
	text(img, left, 18, r.Name, black)
	for i, s := range series {
		st := s.Summary()
		c, ok := engineColors[s.Engine]
		if !ok {
			c = color.RGBA{0x55, 0x55, 0x55, 0xff}
		}
		light := color.RGBA{c.R/2 + 0x80, c.G/2 + 0x80, c.B/2 + 0x80, 0xff}
		cy := top + rowH*i + rowH/2
		text(img, 6, cy+4, s.Engine, black)
		hline(img, x(st.Min), x(st.Max), cy, c)
		vline(img, x(st.Min), cy-6, cy+6, c)
		vline(img, x(st.Max), cy-6, cy+6, c)
		x1, x3 := x(st.Q1), x(st.Q3)
		if x3 < x1+1 {
			x3 = x1 + 1
		}
		draw.Draw(img, image.Rect(x1, cy-11, x3+1, cy+12), &image.Uniform{light}, image.Point{}, draw.Src)
		rect(img, x1, cy-11, x3, cy+11, c)
		for d := -1; d <= 1; d++ {
			vline(img, x(st.Median)+d, cy-11, cy+11, black)
		}
		for k, v := range s.Samples {
			dy := (k%5 - 2) * 3
			xx := x(v)
			draw.Draw(img, image.Rect(xx-1, cy+dy-1, xx+2, cy+dy+2), &image.Uniform{c}, image.Point{}, draw.Src)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = png.Encode(bw, img)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

func rect(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	hline(img, x0, x1, y0, c)
	hline(img, x0, x1, y1, c)
	vline(img, x0, y0, y1, c)
	vline(img, x1, y0, y1, c)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
