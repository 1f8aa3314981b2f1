// Subtly wrong: forgets to saturate when counting down, so 0 wraps to 255.
module counter(input clk, input reset, input up, input en,
               output reg [7:0] count, output at_limit);
  always @(posedge clk)
    if (reset) count <= 0;
    else if (en && up && count != 8'hFF) count <= count + 1;
    else if (en && !up) count <= count - 1;
  assign at_limit = (count == 8'hFF) || (count == 8'h00);
endmodule
